-- A metadata field name is unique within its dataset (two racing creates: one wins).
CREATE UNIQUE INDEX dataset_metadata_name ON dataset_metadata(dataset_id, name);
