package sqlitestore

// submissionDetailSchema adds gateway.Submission.Detail: why, in words, a
// submission got its reason (e.g. the rule that refused a reference host).
const submissionDetailSchema = `ALTER TABLE submissions ADD COLUMN detail TEXT NOT NULL DEFAULT '';`
