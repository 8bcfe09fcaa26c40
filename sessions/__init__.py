"""What is kept: the session file (`store.Session`: one SQLite `.stepscope` per session, built from
`session_file`, `run_writer`, `run_reader` and `blob_store`; `schema` and its migrations), the
recorder that appends a run while it streams (`recorder`, `record_run`), and the comparison maths,
reports and exports built on the readers. Imports no framework and no Qt."""
