DROP TABLE replaceable_schema;
