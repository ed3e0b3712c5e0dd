-- The yungui registry in PostgreSQL: one row per Cedar entity, and a trigger that tells every
-- yungui process (LISTEN yungui_registry) which entity changed, so each evicts exactly that one.
--
-- Schema version 1. Idempotent: `yungui registry import` runs it before importing, and running it
-- again changes nothing. Apply it by hand with `psql "$URL" -f schema.sql` (`yungui registry
-- schema` prints it). A later version adds statements below this header, each idempotent.
--
-- Write entities with plain SQL (INSERT ... ON CONFLICT, UPDATE, DELETE) or the importer; every
-- committed change is announced. A bulk load that bypasses the triggers
-- (`SET session_replication_role = replica`, COPY) must end with `NOTIFY yungui_registry, '*'`,
-- which makes every process drop all it cached.

CREATE SEQUENCE IF NOT EXISTS yungui_registry_version;

CREATE TABLE IF NOT EXISTS yungui_registry (
    -- The entity's uid: `Cloud::Tenant` and `shop-example` for Cloud::Tenant::"shop-example".
    uid_type text NOT NULL,
    uid_id   text NOT NULL,
    -- The entity in Cedar's entity JSON format: {"uid": {...}, "attrs": {...}, "parents": [...]};
    -- its uid must be the row's (the component checks, and fails a decision naming it otherwise).
    entity   jsonb NOT NULL,
    -- Increases with every write (a global sequence): when the row last changed.
    version  bigint NOT NULL DEFAULT nextval('yungui_registry_version'),
    PRIMARY KEY (uid_type, uid_id)
);

CREATE OR REPLACE FUNCTION yungui_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := nextval('yungui_registry_version');
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION yungui_registry_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('yungui_registry',
            json_build_object('type', OLD.uid_type, 'id', OLD.uid_id)::text);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
        AND (TG_OP = 'INSERT' OR (OLD.uid_type, OLD.uid_id) IS DISTINCT FROM (NEW.uid_type, NEW.uid_id)) THEN
        PERFORM pg_notify('yungui_registry',
            json_build_object('type', NEW.uid_type, 'id', NEW.uid_id)::text);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION yungui_registry_notify_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('yungui_registry', '*');
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS yungui_registry_version ON yungui_registry;
CREATE TRIGGER yungui_registry_version BEFORE UPDATE ON yungui_registry
    FOR EACH ROW EXECUTE FUNCTION yungui_registry_version();

DROP TRIGGER IF EXISTS yungui_registry_notify ON yungui_registry;
CREATE TRIGGER yungui_registry_notify AFTER INSERT OR UPDATE OR DELETE ON yungui_registry
    FOR EACH ROW EXECUTE FUNCTION yungui_registry_notify();

DROP TRIGGER IF EXISTS yungui_registry_notify_all ON yungui_registry;
CREATE TRIGGER yungui_registry_notify_all AFTER TRUNCATE ON yungui_registry
    FOR EACH STATEMENT EXECUTE FUNCTION yungui_registry_notify_all();
