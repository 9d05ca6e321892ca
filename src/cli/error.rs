//! The one error of the command line, and its exit code. Every command returns
//! `Result<(), CliError>`; `main` prints the message to stderr and exits with the code.

use crate::core::usecase;

/// The exit codes, as the README and `--help` document them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// the policy is invalid or unreadable: nothing was sent to the kernel
    InvalidPolicy = 1,
    /// a usage error
    Usage = 2,
    /// the kernel refused or netlink failed: nothing was applied (or, said so, unknown)
    Kernel = 3,
    /// the ruleset changed underneath, again and again: nothing was applied
    ChangedUnderneath = 4,
    /// there is no statewall table
    NoTable = 5,
    /// refused for safety, or `verify` says enforcing looks unsafe
    Unsafe = 6,
    /// the output could not be written (stdout closed or full)
    Output = 7,
    /// `plan --exit-code`: the live table is not the plan, an apply would change it
    WouldChange = 8,
}

impl Exit {
    /// Every code, with the line `--help` and the README give it.
    pub const ALL: [(Exit, &'static str); 9] = [
        (Exit::Ok, "success"),
        (
            Exit::InvalidPolicy,
            "the policy is invalid or unreadable (nothing was sent to the kernel)",
        ),
        (Exit::Usage, "usage error"),
        (
            Exit::Kernel,
            "the kernel refused or netlink failed (nothing was applied, unless the message says the outcome is unknown: then `status` shows what is live)",
        ),
        (
            Exit::ChangedUnderneath,
            "the ruleset kept changing underneath (nothing was applied)",
        ),
        (
            Exit::NoTable,
            "there is no statewall table (status, remove, verify, enforce, set)",
        ),
        (
            Exit::Unsafe,
            "refused for safety (lockout lint, audit data, pending change, rollout state, a table changed by someone else); or `verify` says enforcing looks unsafe",
        ),
        (
            Exit::Output,
            "the output could not be written (what the command did stands: an apply is committed)",
        ),
        (
            Exit::WouldChange,
            "`plan --exit-code`: the live table is not this plan (apply would change it)",
        ),
    ];

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A command that did not succeed: what to tell the admin, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> CliError {
        CliError {
            exit,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(Exit::Usage, message)
    }

    pub fn invalid(message: impl Into<String>) -> CliError {
        CliError::new(Exit::InvalidPolicy, message)
    }

    pub fn exit_code(&self) -> u8 {
        self.exit.code()
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<usecase::Error> for CliError {
    fn from(e: usecase::Error) -> CliError {
        let exit = match &e {
            usecase::Error::Invalid(_) => Exit::InvalidPolicy,
            usecase::Error::Usage(_) => Exit::Usage,
            usecase::Error::NoTable(_) => Exit::NoTable,
            usecase::Error::Refused(_) => Exit::Unsafe,
            usecase::Error::ChangedUnderneath(_) => Exit::ChangedUnderneath,
            usecase::Error::Kernel(_) => Exit::Kernel,
        };
        CliError::new(exit, e.to_string())
    }
}

impl From<crate::core::kernel::KernelError> for CliError {
    fn from(e: crate::core::kernel::KernelError) -> CliError {
        usecase::Error::from(e).into()
    }
}

/// The exit code table as `--help` shows it.
pub fn help_table() -> String {
    let mut s = String::from("Exit codes:\n");
    for (exit, what) in Exit::ALL {
        s.push_str(&format!("  {}  {what}\n", exit.code()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's exit-code table says what the code does.
    #[test]
    fn the_readme_exit_code_table_is_this_one() {
        let readme = include_str!("../../README.md");
        for (exit, what) in Exit::ALL {
            let row = format!("| {} | {what} |", exit.code());
            assert!(
                readme.contains(&row),
                "README.md lacks the row `{row}` of the exit-code table"
            );
        }
        let rows = readme
            .lines()
            .filter(|l| {
                l.strip_prefix("| ")
                    .and_then(|r| r.split(' ').next())
                    .is_some_and(|n| n.parse::<u8>().is_ok())
            })
            .count();
        assert_eq!(rows, Exit::ALL.len(), "the README lists other exit codes");
    }

    #[test]
    fn each_use_case_error_has_its_code() {
        use crate::core::kernel::KernelError;
        let code = |e: usecase::Error| CliError::from(e).exit_code();
        assert_eq!(code(usecase::Error::Refused("x".into())), 6);
        assert_eq!(code(usecase::Error::NoTable("x".into())), 5);
        assert_eq!(code(KernelError::GenerationChanged.into()), 4);
        assert_eq!(
            code(
                KernelError::Rejected {
                    errno: 22,
                    message: "x".into()
                }
                .into()
            ),
            3
        );
        assert_eq!(code(usecase::Error::Invalid("x".into())), 1);
        assert_eq!(code(usecase::Error::Usage("x".into())), 2);
    }
}
