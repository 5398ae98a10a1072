-- Server-side sessions (issue 13): a logout ends the session in the database, so a copy of the cookie is refused
-- after a web UI restart too. The idle clock (last user action; polling does not count) is in the signed cookie,
-- so a refused request writes nothing here; last_action_at is the sign-in time.
CREATE TABLE sessions (
  sid TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  created_at REAL NOT NULL,
  last_action_at REAL NOT NULL,
  ended_at REAL,
  remote_addr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Failed sign-ins by (typed user name, address): the lock-out is per name and address (someone guessing elsewhere
-- cannot lock a physician out of their own workstation) plus a cap per address; unknown names are counted the same
-- way as real ones, so the answers do not reveal which names exist.
CREATE TABLE login_failures (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL,
  remote_addr TEXT NOT NULL,
  at REAL NOT NULL
);
CREATE INDEX login_failures_addr ON login_failures(remote_addr, at);
CREATE INDEX login_failures_user ON login_failures(username, remote_addr, at);
