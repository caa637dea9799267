//! Stage 2: being written.
