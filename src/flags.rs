//! Flag behaviour the apps share, defined once so every app's flags parse alike.
//!
//! A Kubernetes-style boolean flag takes `--flag` (true), `--flag=true|false` (also yes/no,
//! on/off, 1/0) and its default when absent, but never a separate value (`--flag false` would
//! make `false` a stray argument), as kube-apiserver's flags do. clap spells that as five
//! settings on the argument; [`BoolishFlag::boolish`] applies them all, so a derive field says
//! `#[arg(long, boolish = false)]` (clap's derive calls an attribute it does not know as a
//! method of the same name on the `Arg`).

/// Turns a `bool` field's `Arg` into a Kubernetes-style boolean flag.
pub trait BoolishFlag {
    /// `--flag` means true, `--flag=VALUE` sets it, absent means `default`.
    fn boolish(self, default: bool) -> Self;
}

impl BoolishFlag for clap::Arg {
    fn boolish(self, default: bool) -> Self {
        self.default_value(if default { "true" } else { "false" })
            .action(clap::ArgAction::Set)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(clap::builder::BoolishValueParser::new())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::BoolishFlag;

    #[derive(Debug, Parser)]
    struct Flags {
        #[arg(long, boolish = false)]
        off_by_default: bool,
        #[arg(long, boolish = true)]
        on_by_default: bool,
    }

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
    }

    #[test]
    fn absent_flags_take_their_default() {
        let flags = parse(&[]).unwrap();
        assert!(!flags.off_by_default);
        assert!(flags.on_by_default);
    }

    #[test]
    fn a_bare_flag_is_true_and_an_explicit_value_wins() {
        let flags = parse(&["--off-by-default", "--on-by-default=false"]).unwrap();
        assert!(flags.off_by_default);
        assert!(!flags.on_by_default);
        let flags = parse(&["--off-by-default=yes", "--on-by-default=0"]).unwrap();
        assert!(flags.off_by_default);
        assert!(!flags.on_by_default);
    }

    #[test]
    fn a_value_needs_an_equals_sign_and_must_be_boolean() {
        let separate = parse(&["--off-by-default", "false"]).unwrap_err();
        assert_eq!(separate.kind(), clap::error::ErrorKind::UnknownArgument);
        let bad = parse(&["--off-by-default=maybe"]).unwrap_err();
        assert_eq!(bad.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
