-- Durable jobs: heavy work (ECG read, clip measurement, perfusion analysis, export, learning) queued by the web UI,
-- the CLI or the core and run by the worker role (device/jobs). A job left 'running' by a killed worker is put back
-- to 'queued' when the worker starts again; handlers store their clinical results idempotently (keyed by the job
-- id or the capture), so a resumed job finishes exactly once.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
  progress REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
  message TEXT NOT NULL DEFAULT '',
  result TEXT,
  error TEXT,
  exam_id INTEGER REFERENCES exams(id),
  dedupe_key TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  started_at TEXT,
  finished_at TEXT,
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX jobs_state ON jobs(state, id);
CREATE INDEX jobs_exam ON jobs(exam_id);
-- one waiting or running job per dedupe key (a finished job frees its key)
CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe_key) WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');
