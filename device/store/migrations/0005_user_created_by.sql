-- Who created each account (issue 13): a physician account an administrator creates starts inactive and must be
-- activated by another administrator, so one person cannot create a physician and sign reports as one.
ALTER TABLE users ADD COLUMN created_by INTEGER REFERENCES users(id);
