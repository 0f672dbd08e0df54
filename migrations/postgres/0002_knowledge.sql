-- Knowledge bases: datasets, their processing rules, documents, segments (chunks) and child
-- chunks with their embeddings, tags and metadata fields; full-text search over segments.

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    provider TEXT NOT NULL DEFAULT 'vendor',
    permission TEXT NOT NULL DEFAULT 'only_me',
    data_source_type TEXT,
    indexing_technique TEXT,
    embedding_model TEXT,
    embedding_model_provider TEXT,
    -- the stored retrieval model (JSON), NULL for the default
    retrieval_model TEXT,
    doc_form TEXT,
    enable_api BIGINT NOT NULL DEFAULT 1,
    built_in_field_enabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE dataset_process_rules (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    mode TEXT NOT NULL,
    rules TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dataset_process_rules_dataset ON dataset_process_rules(dataset_id, created_at);

CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    batch TEXT NOT NULL,
    name TEXT NOT NULL,
    data_source_type TEXT NOT NULL,
    upload_file_id TEXT,
    process_rule_id TEXT,
    doc_form TEXT NOT NULL,
    doc_language TEXT NOT NULL,
    created_from TEXT NOT NULL,
    indexing_status TEXT NOT NULL,
    error TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    archived BIGINT NOT NULL DEFAULT 0,
    is_paused BIGINT NOT NULL DEFAULT 0,
    word_count BIGINT NOT NULL DEFAULT 0,
    tokens BIGINT NOT NULL DEFAULT 0,
    -- custom and built-in metadata values (JSON map)
    doc_metadata TEXT,
    processing_started_at BIGINT,
    parsing_completed_at BIGINT,
    cleaning_completed_at BIGINT,
    splitting_completed_at BIGINT,
    completed_at BIGINT,
    stopped_at BIGINT,
    paused_at BIGINT,
    disabled_at BIGINT,
    archived_at BIGINT,
    indexing_latency DOUBLE PRECISION,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX documents_dataset ON documents(dataset_id, created_at);
CREATE INDEX documents_batch ON documents(dataset_id, batch);

CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    content TEXT NOT NULL,
    answer TEXT,
    word_count BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    keywords TEXT NOT NULL DEFAULT '[]',
    index_node_id TEXT NOT NULL,
    index_node_hash TEXT NOT NULL,
    hit_count BIGINT NOT NULL DEFAULT 0,
    enabled BIGINT NOT NULL DEFAULT 1,
    status TEXT NOT NULL,
    error TEXT,
    -- little-endian f32 vector (high_quality datasets)
    embedding BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    indexing_at BIGINT,
    completed_at BIGINT,
    disabled_at BIGINT,
    stopped_at BIGINT
);
CREATE INDEX segments_document ON segments(document_id, position);
CREATE INDEX segments_dataset ON segments(dataset_id);

CREATE TABLE child_chunks (
    id TEXT PRIMARY KEY,
    segment_id TEXT NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    document_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    content TEXT NOT NULL,
    word_count BIGINT NOT NULL,
    type TEXT NOT NULL,
    embedding BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX child_chunks_segment ON child_chunks(segment_id, position);
CREATE INDEX child_chunks_dataset ON child_chunks(dataset_id);

CREATE TABLE dataset_tags (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, type, name)
);

CREATE TABLE dataset_tag_bindings (
    tag_id TEXT NOT NULL REFERENCES dataset_tags(id) ON DELETE CASCADE,
    target_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tag_id, target_id)
);

CREATE TABLE dataset_metadata (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dataset_metadata_dataset ON dataset_metadata(dataset_id);

-- Full-text search over segment content.
CREATE INDEX segments_fts ON segments USING GIN (to_tsvector('simple', content));
