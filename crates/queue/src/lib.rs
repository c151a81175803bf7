//! The proposal queue: the file protocol between sidecars and the operator.
