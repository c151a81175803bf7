//! `bot-bottle supervise`: the operator's terminal UI over the approval queues.
