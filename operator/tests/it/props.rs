//! Properties linking validation to rendering: whatever the schema accepts renders safely,
//! and names built from any valid system name stay valid Kubernetes names.

use crate::common;

use ovu_crds::rules;
use ovu_operator::render::{self, Ctx, Facts, frontend, nginx};
use proptest::prelude::*;

fn nginx_specials(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '"' | '\'' | '$' | '#' | '\\'))
}

proptest! {
    /// Any domain the validation accepts reaches nginx without special characters, and the
    /// renderer accepts it.
    #[test]
    fn accepted_domains_render(s in "[a-zA-Z0-9;{}$ '\"-]{1,12}(\\.[a-z0-9-]{1,12}){1,3}") {
        if rules::is_domain(&s) {
            prop_assert!(!nginx_specials(&s));
            let mut sys = common::minimal();
            sys.spec.domain = s.clone();
            let facts = Facts::default();
            let ctx = Ctx::new(&sys, &facts).unwrap();
            prop_assert!(nginx::render(&frontend::nginx_input(&ctx)).is_ok());
        }
    }

    /// Any origin the validation accepts is one the renderer accepts.
    #[test]
    fn accepted_origins_render(host in "[a-z0-9-]{1,10}(\\.[a-z0-9;$ -]{1,8}){0,2}", port in proptest::option::of(0u32..99999)) {
        let o = match port { Some(p) => format!("https://{host}:{p}"), None => format!("https://{host}") };
        if rules::is_origin(&o) {
            prop_assert!(!nginx_specials(&o));
            let mut sys = common::minimal();
            sys.spec.frontend.cors_origins = vec![o];
            let facts = Facts::default();
            let ctx = Ctx::new(&sys, &facts).unwrap();
            prop_assert!(nginx::render(&frontend::nginx_input(&ctx)).is_ok());
        }
    }

    /// Every child of a system with a valid name has a valid name itself (DNS-1035 label,
    /// at most 63 characters), so Services and their DNS entries work.
    #[test]
    fn child_names_are_valid_labels(name in "[a-z][a-z0-9-]{0,45}") {
        prop_assume!(rules::is_system_name(&name));
        let mut sys = common::minimal();
        sys.metadata.name = Some(name);
        let d = render::build(&sys, &Facts::default()).unwrap();
        for c in d.all() {
            prop_assert!(c.name.len() <= 63, "{}", c.name);
            prop_assert!(c.name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'));
        }
        let long = format!("data-{}-postgres-0", sys.metadata.name.as_deref().unwrap());
        prop_assert!(long.len() <= 63);
    }
}
