-- Hand-written: what the Prisma schema cannot say (the SQLite counterparts are the FTS5 table of
-- 20261121060000_transcript_search and the triggers of 20261202115409_privacy).

-- Full-text search over Transcript.text for GET /api/calls?q=...: "searchVector" (declared in the
-- derived schema, GIN-indexed by the init migration) holds the words of "text", kept by a trigger.
-- The text search configuration "switchboard_search" does what SQLite's unicode61 tokenizer with
-- remove_diacritics does: it lowercases, drops accents (unaccent, a contrib extension shipped with
-- PostgreSQL and offered by the managed services) and neither stems nor drops stop words: calls are
-- in any language. A deleted (erased) row takes its words with it.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TEXT SEARCH CONFIGURATION "switchboard_search" (COPY = pg_catalog.simple);

ALTER TEXT SEARCH CONFIGURATION "switchboard_search"
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
    WITH unaccent, simple;

CREATE FUNCTION "transcript_search_vector"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."searchVector" := to_tsvector('switchboard_search', NEW."text");
    RETURN NEW;
END
$$;

CREATE TRIGGER "Transcript_search_vector"
    BEFORE INSERT OR UPDATE OF "text" ON "Transcript"
    FOR EACH ROW EXECUTE FUNCTION "transcript_search_vector"();

-- Index the rows that already exist.
UPDATE "Transcript" SET "searchVector" = to_tsvector('switchboard_search', "text");

-- Append-only: the audit can be added to, never changed or deleted.
CREATE FUNCTION "audit_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit is append-only';
END
$$;

CREATE TRIGGER "AuditEntry_no_update"
    BEFORE UPDATE OR DELETE ON "AuditEntry"
    FOR EACH ROW EXECUTE FUNCTION "audit_append_only"();

CREATE TRIGGER "AuditEntry_no_truncate"
    BEFORE TRUNCATE ON "AuditEntry"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_append_only"();
