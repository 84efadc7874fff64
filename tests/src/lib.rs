//! End-to-end tests of compiled agents.
