-- weir's first schema: workspaces, apps and their workflow versions, credentials, end users,
-- conversations, messages, feedback, files, workflow runs and node executions.
-- Ids are lowercase hyphenated UUID text; timestamps are Unix seconds.

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'normal',
    created_at BIGINT NOT NULL
);

INSERT INTO workspaces (id, name, status, created_at) VALUES (
    gen_random_uuid()::text, 'default', 'normal', CAST(extract(epoch FROM now()) AS BIGINT)
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    mode TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    icon TEXT NOT NULL DEFAULT '',
    icon_type TEXT NOT NULL DEFAULT 'emoji',
    icon_background TEXT NOT NULL DEFAULT '#FFFFFF',
    use_icon_as_answer_icon BIGINT NOT NULL DEFAULT 0,
    enable_api BIGINT NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'normal',
    dsl_version TEXT NOT NULL,
    -- the imported DSL document (JSON), secrets included; export masks them
    dsl TEXT NOT NULL,
    -- the current published workflow version (workflow and advanced-chat apps)
    workflow_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX apps_workspace ON apps(workspace_id, created_at);

CREATE TABLE workflows (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    graph TEXT NOT NULL,
    features TEXT NOT NULL,
    environment_variables TEXT NOT NULL,
    conversation_variables TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX workflows_app ON workflows(app_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    app_id TEXT REFERENCES apps(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_keys_app ON api_keys(app_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT
);

CREATE TABLE end_users (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    session_id TEXT NOT NULL,
    name TEXT,
    is_anonymous BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (app_id, type, session_id)
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL REFERENCES end_users(id) ON DELETE CASCADE,
    mode TEXT NOT NULL,
    name TEXT NOT NULL,
    inputs TEXT NOT NULL,
    introduction TEXT,
    status TEXT NOT NULL DEFAULT 'normal',
    from_source TEXT NOT NULL DEFAULT 'api',
    workflow_id TEXT,
    dialogue_count BIGINT NOT NULL DEFAULT 0,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_owner ON conversations(app_id, end_user_id, deleted);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    task_id TEXT NOT NULL,
    query TEXT NOT NULL,
    inputs TEXT NOT NULL,
    answer TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'normal',
    error TEXT,
    message_tokens BIGINT NOT NULL DEFAULT 0,
    answer_tokens BIGINT NOT NULL DEFAULT 0,
    total_price TEXT NOT NULL DEFAULT '0',
    currency TEXT NOT NULL DEFAULT 'USD',
    provider_response_latency DOUBLE PRECISION NOT NULL DEFAULT 0,
    -- usage, retriever_resources, annotation_reply
    metadata TEXT NOT NULL DEFAULT '{}',
    agent_thoughts TEXT NOT NULL DEFAULT '[]',
    workflow_run_id TEXT,
    from_source TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, created_at);

CREATE TABLE message_feedbacks (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL,
    rating TEXT NOT NULL,
    content TEXT,
    from_source TEXT NOT NULL DEFAULT 'user',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (message_id, end_user_id)
);
CREATE INDEX message_feedbacks_app ON message_feedbacks(app_id, created_at);

CREATE TABLE upload_files (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    app_id TEXT REFERENCES apps(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    extension TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_by_role TEXT NOT NULL DEFAULT 'end_user',
    used BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE message_files (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    type TEXT NOT NULL,
    transfer_method TEXT NOT NULL,
    url TEXT,
    belongs_to TEXT NOT NULL DEFAULT 'user',
    upload_file_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX message_files_message ON message_files(message_id);
CREATE INDEX message_files_upload ON message_files(upload_file_id);

CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    workflow_id TEXT NOT NULL,
    type TEXT NOT NULL,
    triggered_from TEXT NOT NULL,
    version TEXT NOT NULL,
    conversation_id TEXT,
    message_id TEXT,
    status TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT,
    error TEXT,
    elapsed_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_tokens BIGINT NOT NULL DEFAULT 0,
    total_steps BIGINT NOT NULL DEFAULT 0,
    exceptions_count BIGINT NOT NULL DEFAULT 0,
    created_by_end_user_id TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX workflow_runs_app ON workflow_runs(app_id, created_at);

CREATE TABLE workflow_node_executions (
    id TEXT PRIMARY KEY,
    workflow_run_id TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    node_type TEXT NOT NULL,
    title TEXT NOT NULL,
    idx BIGINT NOT NULL,
    predecessor_node_id TEXT,
    iteration_id TEXT,
    loop_id TEXT,
    inputs TEXT,
    process_data TEXT,
    outputs TEXT,
    status TEXT NOT NULL,
    error TEXT,
    elapsed_time DOUBLE PRECISION NOT NULL DEFAULT 0,
    execution_metadata TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX workflow_node_executions_run ON workflow_node_executions(workflow_run_id, idx);

CREATE TABLE conversation_variables (
    id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value_type TEXT NOT NULL,
    value TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (id, conversation_id)
);
