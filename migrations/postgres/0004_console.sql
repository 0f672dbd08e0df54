-- The console and the published web app: accounts and their workspaces, refresh tokens and
-- login failures, the first-admin setup record, web-app sites, and what the console keeps of
-- apps, conversations and messages (who made them, read marks, pins, saved messages, the
-- prompt sent to the model, admin feedback, default models, app tags).

ALTER TABLE workspaces ADD COLUMN title TEXT;
ALTER TABLE workspaces ADD COLUMN plan TEXT NOT NULL DEFAULT 'basic';

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- stored lower-cased
    email TEXT NOT NULL UNIQUE,
    -- Argon2id, PHC string format
    password_hash TEXT,
    avatar TEXT,
    interface_language TEXT NOT NULL DEFAULT 'en-US',
    interface_theme TEXT NOT NULL DEFAULT 'light',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    status TEXT NOT NULL DEFAULT 'active',
    last_login_at BIGINT,
    last_login_ip TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE workspace_members (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    current BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, account_id)
);
CREATE INDEX workspace_members_account ON workspace_members(account_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_account ON refresh_tokens(account_id);

CREATE TABLE login_failures (
    email TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    first_at BIGINT NOT NULL
);

-- One row once the first admin exists.
CREATE TABLE setup (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    setup_at BIGINT NOT NULL
);

CREATE TABLE sites (
    app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    icon_type TEXT,
    icon TEXT,
    icon_background TEXT,
    description TEXT,
    default_language TEXT NOT NULL DEFAULT 'en-US',
    chat_color_theme TEXT,
    chat_color_theme_inverted BIGINT NOT NULL DEFAULT 0,
    copyright TEXT,
    privacy_policy TEXT,
    custom_disclaimer TEXT NOT NULL DEFAULT '',
    customize_domain TEXT,
    customize_token_strategy TEXT NOT NULL DEFAULT 'not_allow',
    prompt_public BIGINT NOT NULL DEFAULT 0,
    show_workflow_steps BIGINT NOT NULL DEFAULT 1,
    use_icon_as_answer_icon BIGINT NOT NULL DEFAULT 0,
    created_by TEXT,
    updated_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Apps imported before sites existed get one.
INSERT INTO sites (app_id, code, title, icon_type, icon, icon_background, created_at, updated_at)
SELECT id, substr(md5(random()::text || id), 1, 16), name, icon_type, icon, icon_background, created_at, updated_at
FROM apps;

ALTER TABLE apps ADD COLUMN enable_site BIGINT NOT NULL DEFAULT 1;
ALTER TABLE apps ADD COLUMN max_active_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN created_by TEXT;
ALTER TABLE apps ADD COLUMN updated_by TEXT;
ALTER TABLE apps ADD COLUMN tracing TEXT;

CREATE TABLE app_tag_bindings (
    tag_id TEXT NOT NULL REFERENCES dataset_tags(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tag_id, app_id)
);
CREATE INDEX app_tag_bindings_app ON app_tag_bindings(app_id);

-- Keys made in the console are kept sealed (secret_key) so the console can show them again.
ALTER TABLE api_keys ADD COLUMN sealed_key TEXT;

ALTER TABLE conversations ADD COLUMN from_account_id TEXT;
ALTER TABLE conversations ADD COLUMN read_at BIGINT;
CREATE INDEX conversations_app ON conversations(app_id, deleted, updated_at);

CREATE TABLE pinned_conversations (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, end_user_id)
);

ALTER TABLE messages ADD COLUMN from_account_id TEXT;
ALTER TABLE messages ADD COLUMN parent_message_id TEXT;
-- the prompt sent to the model: [{"role", "text", "files"}]
ALTER TABLE messages ADD COLUMN message TEXT;
CREATE INDEX messages_app ON messages(app_id, created_at);

ALTER TABLE message_feedbacks ADD COLUMN from_account_id TEXT;

CREATE TABLE saved_messages (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (message_id, end_user_id)
);

CREATE TABLE default_models (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    model_type TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    PRIMARY KEY (workspace_id, model_type)
);
