-- Full-text search over Transcript.text for GET /api/calls?q=...
-- An external-content FTS5 table (the text is stored once, in "Transcript"; the index refers to its
-- rowid) kept in sync by triggers. Hand-written: the Prisma schema does not model FTS5 tables, and
-- the transcript_fts* names are listed as external tables in src/db/migrations.ts.

-- CreateTable
CREATE VIRTUAL TABLE "transcript_fts" USING fts5(
    "text",
    content = 'Transcript',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Index the rows that already exist.
INSERT INTO "transcript_fts" ("transcript_fts") VALUES ('rebuild');

-- CreateTrigger
CREATE TRIGGER "Transcript_fts_ai" AFTER INSERT ON "Transcript" BEGIN
    INSERT INTO "transcript_fts" ("rowid", "text") VALUES (new."id", new."text");
END;

-- CreateTrigger
CREATE TRIGGER "Transcript_fts_ad" AFTER DELETE ON "Transcript" BEGIN
    INSERT INTO "transcript_fts" ("transcript_fts", "rowid", "text") VALUES ('delete', old."id", old."text");
END;

-- CreateTrigger
CREATE TRIGGER "Transcript_fts_au" AFTER UPDATE OF "text" ON "Transcript" BEGIN
    INSERT INTO "transcript_fts" ("transcript_fts", "rowid", "text") VALUES ('delete', old."id", old."text");
    INSERT INTO "transcript_fts" ("rowid", "text") VALUES (new."id", new."text");
END;
