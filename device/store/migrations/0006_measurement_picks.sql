-- The clip a sonographer chose for each view of an echo exam's report (issue 18: one coherent measurement set;
-- without a pick the report uses the reviewed clip, else the best by quality).
CREATE TABLE measurement_picks (
    exam_id INTEGER NOT NULL REFERENCES exams(id),
    view TEXT NOT NULL,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    picked_by INTEGER REFERENCES users(id),
    picked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (exam_id, view)
);
