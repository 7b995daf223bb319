-- One account per address, enforced by the database: two registrations racing for one address cannot both succeed.
-- Identity checks uniqueness first, but between its check and its insert another request can insert the same address.
DROP INDEX IF EXISTS "EmailIndex";
CREATE UNIQUE INDEX "EmailIndex" ON "AspNetUsers" ("NormalizedEmail");
