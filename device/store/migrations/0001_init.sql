-- CardioCart schema, version 1.
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('sonographer', 'physician', 'admin')),
  pin_hash TEXT NOT NULL,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  locked_until REAL NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  language TEXT NOT NULL DEFAULT 'en',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE patients (
  id INTEGER PRIMARY KEY,
  patient_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  sex TEXT NOT NULL DEFAULT 'U' CHECK (sex IN ('M', 'F', 'O', 'U')),
  birth_date TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE exams (
  id INTEGER PRIMARY KEY,
  patient_ref INTEGER NOT NULL REFERENCES patients(id),
  kind TEXT NOT NULL CHECK (kind IN ('echo', 'ecg', 'perfusion')),
  accession TEXT NOT NULL UNIQUE,
  study_uid TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  protocol TEXT NOT NULL DEFAULT '[]',
  created_by INTEGER REFERENCES users(id),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX exams_patient ON exams(patient_ref);

-- Pixel data and other payloads: files named by sha256 under blobs/, the row written after the file is durable.
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
  size_bytes INTEGER NOT NULL,
  media_type TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE captures (
  id INTEGER PRIMARY KEY,
  exam_id INTEGER NOT NULL REFERENCES exams(id),
  kind TEXT NOT NULL CHECK (kind IN ('clip', 'frame', 'photo', 'volume', 'signal', 'document')),
  blob_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
  label TEXT NOT NULL DEFAULT '',
  quality REAL,
  meta TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX captures_exam ON captures(exam_id);

CREATE TABLE findings (
  id INTEGER PRIMARY KEY,
  exam_id INTEGER NOT NULL REFERENCES exams(id),
  capture_id INTEGER REFERENCES captures(id),
  kind TEXT NOT NULL,
  label TEXT NOT NULL,
  score REAL,
  model_name TEXT NOT NULL,
  model_version TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}',
  confirmed_by INTEGER REFERENCES users(id),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX findings_exam ON findings(exam_id);

CREATE TABLE measurements (
  id INTEGER PRIMARY KEY,
  exam_id INTEGER NOT NULL REFERENCES exams(id),
  capture_id INTEGER REFERENCES captures(id),
  name TEXT NOT NULL,
  value REAL NOT NULL,
  unit TEXT NOT NULL,
  model_name TEXT NOT NULL,
  model_version TEXT NOT NULL,
  frames TEXT NOT NULL DEFAULT '[]',
  source TEXT NOT NULL DEFAULT 'auto' CHECK (source IN ('auto', 'confirmed', 'edited', 'manual')),
  edited_by INTEGER REFERENCES users(id),
  supersedes INTEGER REFERENCES measurements(id),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX measurements_exam ON measurements(exam_id);

CREATE TABLE alerts (
  id INTEGER PRIMARY KEY,
  exam_id INTEGER REFERENCES exams(id),
  level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'critical')),
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}',
  acknowledged_by INTEGER REFERENCES users(id),
  acknowledged_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE reports (
  id INTEGER PRIMARY KEY,
  exam_id INTEGER NOT NULL REFERENCES exams(id),
  version INTEGER NOT NULL,
  content TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'signed')),
  author_id INTEGER REFERENCES users(id),
  signer_id INTEGER REFERENCES users(id),
  signed_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (exam_id, version)
);
-- A signed report is immutable: a correction is a new version.
CREATE TRIGGER reports_signed_immutable BEFORE UPDATE ON reports WHEN OLD.status = 'signed'
BEGIN SELECT RAISE(ABORT, 'signed report is immutable'); END;
CREATE TRIGGER reports_signed_undeletable BEFORE DELETE ON reports WHEN OLD.status = 'signed'
BEGIN SELECT RAISE(ABORT, 'signed report is immutable'); END;

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  user_id INTEGER REFERENCES users(id),
  username TEXT NOT NULL,
  action TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_append_only_d BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  exam_id INTEGER NOT NULL REFERENCES exams(id),
  target TEXT NOT NULL,
  object_kind TEXT NOT NULL,
  sop_instance_uid TEXT NOT NULL,
  blob_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'rejected')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at REAL NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  sent_at TEXT,
  UNIQUE (target, sop_instance_uid)
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);

-- Live events for the UI's event stream (standard view, alarms, clip saved); trimmed by the core.
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  at_unix REAL NOT NULL,
  kind TEXT NOT NULL,
  exam_id INTEGER REFERENCES exams(id),
  payload TEXT NOT NULL DEFAULT '{}'
);
