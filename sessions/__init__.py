"""What is kept: the session file (`store`: one SQLite `.stepscope` per session, schema and
migrations, readers), the recorder that appends a run while it streams (`recorder`), and the
comparison maths and exports built on the readers. Imports no framework and no Qt."""
