//! Stage 3: being written.
