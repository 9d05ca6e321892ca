//! kernel layer
