-- Reserved: number 4 is two-factor authentication's migration, which is
-- merged separately; this placeholder keeps the numbering without gaps on
-- a branch that does not carry it yet. It creates nothing.
SELECT 1;
