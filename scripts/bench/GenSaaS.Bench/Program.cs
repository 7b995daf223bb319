using GenSaaS.Bench;

return args.FirstOrDefault() switch
{
    "ledger" => await LedgerBench.RunAsync(args[1..]),
    "webhooks" => await WebhookBench.RunAsync(args[1..], Console.Out),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: GenSaaS.Bench ledger [seconds] [concurrency]");
    Console.Error.WriteLine("       GenSaaS.Bench " + WebhookBench.Usage);
    return 64;
}
