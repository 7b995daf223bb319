using GenSaaS.Bench;

return args.FirstOrDefault() switch
{
    "ledger" => await LedgerBench.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: GenSaaS.Bench ledger [seconds] [concurrency]");
    return 64;
}
