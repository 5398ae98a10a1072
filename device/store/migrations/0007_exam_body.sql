-- Patient body size and indication per exam (issue 18 part 5): an echo report shows height, weight, BSA
-- (Mosteller) and indexed volumes, and the reason for the exam. Per exam, not per patient: weight changes.
ALTER TABLE exams ADD COLUMN height_cm REAL;
ALTER TABLE exams ADD COLUMN weight_kg REAL;
ALTER TABLE exams ADD COLUMN indication TEXT NOT NULL DEFAULT '';
