-- The lab's one schema and seed, shared by all three services (TechEmpower's
-- world and fortune tables). Plain, idempotent SQL: lab/contract/database.py runs it to
-- create, seed and reset a database, and it also works as a postgres
-- /docker-entrypoint-initdb.d script. Running it again restores the seed state.

CREATE TABLE IF NOT EXISTS world (
    id integer NOT NULL PRIMARY KEY,
    randomnumber integer NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS fortune (
    id integer NOT NULL PRIMARY KEY,
    message varchar(2048) NOT NULL
);

-- Deterministic "random" numbers in 1..10000, so every run starts from the same
-- data: Knuth's multiplicative hash of the id (a permutation of 1..10000).
-- Only rows that differ from the seed are written, so a reset after /updates is cheap.
INSERT INTO world (id, randomnumber)
SELECT id, 1 + (id::bigint * 2654435761) % 10000 FROM generate_series(1, 10000) AS x(id)
ON CONFLICT (id) DO UPDATE SET randomnumber = EXCLUDED.randomnumber
    WHERE world.randomnumber IS DISTINCT FROM EXCLUDED.randomnumber;
DELETE FROM world WHERE id NOT BETWEEN 1 AND 10000;

-- The twelve fortunes exactly as TechEmpower's create-postgres.sql has them.
INSERT INTO fortune (id, message) VALUES
    (1, 'fortune: No such file or directory'),
    (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
    (3, 'After enough decimal places, nobody gives a damn.'),
    (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
    (5, 'A computer program does what you tell it to do, not what you want it to do.'),
    (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
    (7, 'Any program that runs right is obsolete.'),
    (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
    (9, 'Feature: A bug with seniority.'),
    (10, 'Computers make very fast, very accurate mistakes.'),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, 'フレームワークのベンチマーク')
ON CONFLICT (id) DO UPDATE SET message = EXCLUDED.message
    WHERE fortune.message IS DISTINCT FROM EXCLUDED.message;
DELETE FROM fortune WHERE id NOT BETWEEN 1 AND 12;

ANALYZE world, fortune;
