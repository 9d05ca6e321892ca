//! Expected output kept as data: compare, or rewrite with `UPDATE_EXPECT=1`.

use std::path::Path;

/// Compares `actual` with the file at `tests/data/<rel>`; with `UPDATE_EXPECT=1` writes it.
#[track_caller]
pub fn check(rel: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    }
    if let Some(failure) = case(&path, rel, actual) {
        panic!("{failure}");
    }
}

/// One data-driven case: compares `actual` with the `.expected` file beside its input (or,
/// with `UPDATE_EXPECT=1`, writes it). Returns the failure to report, if any.
pub fn case(expected_path: &Path, name: &str, actual: &str) -> Option<String> {
    let expected = std::fs::read_to_string(expected_path).ok();
    if std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1") {
        if expected.as_deref() != Some(actual) {
            std::fs::write(expected_path, actual).unwrap();
            eprintln!("updated {}", expected_path.display());
        }
        return None;
    }
    match expected {
        None => Some(format!(
            "{name}: {} is missing (run with UPDATE_EXPECT=1 to create it); actual:\n{actual}",
            expected_path.display()
        )),
        Some(expected) if expected != actual => Some(format!(
            "{name}: output differs from {}\n\
             ---------- expected ----------\n{expected}\
             ---------- actual ------------\n{actual}\
             ---------- diff (- expected, + actual) ----------\n{}",
            expected_path.display(),
            statewall::core::render::diff(&expected, actual).unwrap_or_default()
        )),
        Some(_) => None,
    }
}
