//! Name and value rules coderd enforces (codersdk/name.go, coderd/userpassword).

/// codersdk.NameValid: usernames, organization, template and workspace names.
pub fn name_valid(s: &str) -> bool {
    if s.is_empty() || s.len() > 32 || s == "new" || s == "create" {
        return false;
    }
    // ^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$
    !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// codersdk.TemplateVersionNameValid: ^[a-zA-Z0-9]+(?:[_.-]{1}[a-zA-Z0-9]+)*$, at most 64.
pub fn template_version_name_valid(s: &str) -> bool {
    if s.is_empty() || s.len() > 64 {
        return false;
    }
    let sep = |c: char| matches!(c, '_' | '.' | '-');
    let chars: Vec<char> = s.chars().collect();
    if sep(chars[0]) || sep(chars[chars.len() - 1]) {
        return false;
    }
    chars.windows(2).all(|w| !(sep(w[0]) && sep(w[1])))
        && chars.iter().all(|&c| c.is_ascii_alphanumeric() || sep(c))
}

/// codersdk.DisplayNameValid: empty, or ^[^\s](.*[^\s])?$ and at most 64.
pub fn display_name_valid(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    s.len() <= 64 && !s.starts_with(char::is_whitespace) && !s.ends_with(char::is_whitespace)
}

/// codersdk.UserRealNameValid.
pub fn user_real_name_valid(s: &str) -> bool {
    s.len() <= 128 && s.trim() == s
}

/// A plausible email address (validator's `email` tag is far stricter; this catches the
/// obvious mistakes a client could make).
pub fn email_valid(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !s.contains(' ')
        }
        None => false,
    }
}

/// coderd/userpassword.Validate: go-password-validator with a minimum of 52 bits of entropy,
/// and at most 64 characters. The entropy estimate follows that library's idea (character pool
/// size ^ effective length, long runs and sequences shortened); the error text is paraphrased.
pub fn password_problem(password: &str) -> Option<String> {
    if password.len() > 64 {
        return Some("password must be no more than 64 characters".to_string());
    }
    if password_entropy_bits(password) < 52.0 {
        return Some(
            "insecure password, try including more special characters, using uppercase letters, \
             using numbers or using a longer password"
                .to_string(),
        );
    }
    None
}

fn password_entropy_bits(password: &str) -> f64 {
    let mut pool = 0u32;
    let has = |f: fn(char) -> bool| password.chars().any(f);
    if has(|c| c.is_ascii_lowercase()) {
        pool += 26;
    }
    if has(|c| c.is_ascii_uppercase()) {
        pool += 26;
    }
    if has(|c| c.is_ascii_digit()) {
        pool += 10;
    }
    if has(|c| "!@$&*".contains(c)) {
        pool += 5;
    }
    if has(|c| "_-., ".contains(c)) {
        pool += 5;
    }
    if has(|c| "\"#%'()+/:;<=>?[\\]^{|}~`".contains(c)) {
        pool += 24;
    }
    if has(|c| !c.is_ascii()) {
        pool += 1;
    }
    // Effective length: runs of one character count at most twice.
    let mut len = 0usize;
    let mut prev: Option<char> = None;
    let mut run = 0usize;
    for c in password.chars() {
        if Some(c) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(c);
        }
        if run <= 2 {
            len += 1;
        }
    }
    if pool == 0 {
        return 0.0;
    }
    f64::from(pool).log2() * len as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_codersdk_rules() {
        assert!(name_valid("my-workspace1"));
        assert!(!name_valid("-x"));
        assert!(!name_valid("a--b"));
        assert!(!name_valid("under_score"));
        assert!(!name_valid("new"));
        assert!(!name_valid(&"a".repeat(33)));
        assert!(template_version_name_valid("v1.2_rc-3"));
        assert!(!template_version_name_valid("v1..2"));
        assert!(display_name_valid("My Template"));
        assert!(!display_name_valid(" padded"));
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert!(password_problem("password").is_some());
        assert!(password_problem("aaaaaaaaaaaaaaaaaaaa").is_some());
        assert!(password_problem("SomeSecurePassword!123").is_none());
        assert!(password_problem(&"Ab1!".repeat(17)).is_some());
    }
}
