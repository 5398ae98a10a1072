-- Clip view labels (issue 12 part 3): every saved echo clip carries the view it was saved under (captures.label,
-- the protocol item); the sonographer confirms it or corrects it in one touch on the exam page. Only confirmed or
-- corrected clips teach the cart its site's views (device/usecases/echo_learn.py). One row per clip, replaced on a
-- later touch; every touch is also in the audit log.
CREATE TABLE clip_labels (
  capture_id INTEGER PRIMARY KEY REFERENCES captures(id),
  view TEXT NOT NULL,
  saved_view TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('confirmed', 'corrected')),
  user_id INTEGER REFERENCES users(id),
  username TEXT NOT NULL,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX clip_labels_view ON clip_labels(view);
