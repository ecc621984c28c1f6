//! Kotlin and Swift bindings for crmkit through UniFFI (issue 6).

uniffi::setup_scaffolding!();
