//! Stage 4: being written.
