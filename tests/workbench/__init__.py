"""The workbench pages through the Flask test client (the browser tests are in tests/e2e/)."""
