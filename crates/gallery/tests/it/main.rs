//! Integration tests for trustpull-gallery: the real LocalAI backend index.

mod installer;
mod localai;
mod sources;
