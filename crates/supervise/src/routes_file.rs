//! Applying approved route changes to the egress routes file, atomically.
