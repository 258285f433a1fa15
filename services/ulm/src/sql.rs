//! SQL shared by several checked queries. The `query!` family takes only string literals
//! (joined with `+`), never a `const`, so a column list used by many queries lives in a
//! macro that puts it between the caller's literals.

/// `sqlx::query_as!(User, HEAD + <the columns of a User from users u> + TAIL, args…)`,
/// checked at compile time like any `query_as!`. The same list as
/// [`crate::models::USER_COLUMNS`], which the dynamic user list still uses (there a missing
/// column fails at run time, in the list tests).
///
/// `query_users!(as Type, HEAD, TAIL, args…)` fills `Type` instead: a User's fields plus the
/// extra columns HEAD selects before the list (HEAD then ends with a comma).
macro_rules! query_users {
    ($head:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        $crate::sql::query_users!(as $crate::models::User, $head, $tail $(, $arg)*)
    };
    (as $ty:path, $head:literal, $tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            $ty,
            $head
                + r#" u.id, u.email, u.username, u.display_name, u.preferred_language, u.phone, u.status,
    (u.email_verified_at IS NOT NULL) AS "email_verified!", u.mfa_enabled,
    ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
          WHERE ur.user_id = u.id ORDER BY r.name) AS "roles!",
    u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.deactivation_reason,
    u.scheduled_deactivation_at, u.scheduled_deactivation_reason "#
                + $tail
            $(, $arg)*
        )
    };
}
pub(crate) use query_users;
