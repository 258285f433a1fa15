//! Reconcile errors, each naming the step that failed and the child it worked on, so the
//! `ReconcileFailed` Event says what failed ("apply Deployment ovu-ulm: …"), not only "api
//! error". Secrets never appear in them.

use kube::runtime::finalizer;

use crate::apply::ApplyError;
use crate::render::RenderError;
use crate::tls::TlsError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Server-side apply of one rendered child.
    #[error("apply {kind} {name}: {source}")]
    ApplyChild {
        kind: String,
        name: String,
        #[source]
        source: ApplyError,
    },
    /// Reading what a step needs (a child, the pods, the nodes, the backup Jobs).
    #[error("{step}: read {what}: {source}")]
    Read {
        step: &'static str,
        what: String,
        #[source]
        source: kube::Error,
    },
    /// Deleting a child this round did not render, or data on `deletionPolicy: Delete`.
    #[error("{step}: delete {kind} {name}: {source}")]
    DeleteChild {
        step: &'static str,
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Writing the OvuSystem's status.
    #[error("write status: {source}")]
    WriteStatus {
        #[source]
        source: kube::Error,
    },
    #[error("render: {0}")]
    Render(#[from] RenderError),
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    #[error("secrets: key generation failed")]
    KeyGen,
    #[error("object has no {0}")]
    Metadata(&'static str),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

impl Error {
    /// The API error underneath, if any.
    fn kube(&self) -> Option<&kube::Error> {
        match self {
            Error::ApplyChild {
                source: ApplyError::Kube(k),
                ..
            }
            | Error::Read { source: k, .. }
            | Error::DeleteChild { source: k, .. }
            | Error::WriteStatus { source: k } => Some(k),
            _ => None,
        }
    }

    /// The step's own error inside the finalizer's wrapping (the error itself otherwise):
    /// what the questions below are asked of.
    fn unwrapped(&self) -> &Error {
        match self {
            Error::Finalizer(e) => match &**e {
                finalizer::Error::ApplyFailed(inner) | finalizer::Error::CleanupFailed(inner) => {
                    inner.unwrapped()
                }
                _ => self,
            },
            _ => self,
        }
    }

    /// The `reason` label of the failure metric.
    pub fn metric_label(&self) -> &'static str {
        let e = self.unwrapped();
        if let Some(k) = e.kube() {
            return match k {
                kube::Error::Api(s) if s.code == 409 => "conflict",
                kube::Error::Api(s) if s.code == 403 => "forbidden",
                kube::Error::Api(s) if s.code == 422 => "invalid",
                _ => "kube",
            };
        }
        match e {
            Error::ApplyChild { .. } => "foreign_object",
            Error::Render(_) => "render",
            Error::Tls(_) => "tls",
            Error::KeyGen => "keygen",
            Error::Metadata(_) => "metadata",
            Error::Finalizer(_) => "finalizer",
            _ => "kube",
        }
    }

    /// The message of a stranger's object in the way, wherever the error was wrapped.
    pub(crate) fn foreign(&self) -> Option<String> {
        match self.unwrapped() {
            Error::ApplyChild {
                source: f @ ApplyError::Foreign { .. },
                ..
            } => Some(f.to_string()),
            _ => None,
        }
    }

    /// Whether the API refused to create something because the namespace is being deleted
    /// (403 with the cause `NamespaceTerminating`, from the API server's NamespaceLifecycle
    /// admission). Nothing can be made there any more, Events included, and the namespace's
    /// deletion reaches this OvuSystem as its own deletion (the finalizer's cleanup): a
    /// reconcile that meets it has not failed, it has been overtaken.
    pub fn namespace_terminating(&self) -> bool {
        matches!(self.unwrapped().kube(), Some(kube::Error::Api(s)) if s.code == 403
            && s.details.as_ref().is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating")))
    }

    /// Whether the API answered 404 (an API group that is not installed, such as
    /// cert-manager's).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self.kube(), Some(kube::Error::Api(s)) if s.code == 404)
    }
}

/// Name the step and the object of a failed read.
pub(crate) fn read(
    step: &'static str,
    what: impl Into<String>,
) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Read { step, what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("no", "Forbidden")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn errors_name_the_step_and_the_child() {
        let e = Error::ApplyChild {
            kind: "Deployment".into(),
            name: "ovu-ulm".into(),
            source: ApplyError::Kube(api_error(403)),
        };
        assert!(
            e.to_string().starts_with("apply Deployment ovu-ulm: "),
            "{e}"
        );
        assert_eq!(e.metric_label(), "forbidden");
        let e = Error::DeleteChild {
            step: "prune",
            kind: "NetworkPolicy".into(),
            name: "ovu-frontend".into(),
            source: api_error(409),
        };
        assert!(
            e.to_string()
                .starts_with("prune: delete NetworkPolicy ovu-frontend: "),
            "{e}"
        );
        assert_eq!(e.metric_label(), "conflict");
        let e = read("backups", "Jobs labelled backup")(api_error(500));
        assert!(
            e.to_string()
                .starts_with("backups: read Jobs labelled backup: "),
            "{e}"
        );
        let e = Error::WriteStatus {
            source: api_error(422),
        };
        assert!(e.to_string().starts_with("write status: "), "{e}");
        assert_eq!(e.metric_label(), "invalid");
    }

    #[test]
    fn a_terminating_namespace_is_recognised_by_its_cause_through_the_wrapping() {
        // The API server's answer to a create in a namespace being deleted.
        let terminating = || {
            let status: kube::core::Status = serde_json::from_value(serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "deployments.apps \"ovu-ulm\" is forbidden: unable to create new content in namespace shop because it is being terminated",
                "reason": "Forbidden",
                "details": {"name": "ovu-ulm", "group": "apps", "kind": "deployments",
                    "causes": [{"reason": "NamespaceTerminating",
                        "message": "namespace shop is being terminated", "field": "metadata.namespace"}]},
                "code": 403}))
            .unwrap();
            kube::Error::Api(status.boxed())
        };
        let apply = || Error::ApplyChild {
            kind: "Deployment".into(),
            name: "ovu-ulm".into(),
            source: ApplyError::Kube(terminating()),
        };
        assert!(apply().namespace_terminating());
        assert!(
            Error::Finalizer(Box::new(finalizer::Error::ApplyFailed(apply())))
                .namespace_terminating()
        );
        assert!(read("backups", "Jobs")(terminating()).namespace_terminating());
        // Any other 403 is a failure (RBAC that does not allow a write, say).
        let forbidden = Error::ApplyChild {
            kind: "Deployment".into(),
            name: "ovu-ulm".into(),
            source: ApplyError::Kube(api_error(403)),
        };
        assert!(!forbidden.namespace_terminating());
        assert!(!Error::Metadata("namespace").namespace_terminating());
    }

    #[test]
    fn a_foreign_object_is_recognised_through_the_wrapping() {
        let e = Error::ApplyChild {
            kind: "Service".into(),
            name: "ovu-ulm".into(),
            source: ApplyError::Foreign {
                kind: "Service".into(),
                name: "ovu-ulm".into(),
                managed_by: "ovu-operator",
                instance: "ovu".into(),
            },
        };
        assert_eq!(e.metric_label(), "foreign_object");
        assert!(
            e.foreign()
                .unwrap()
                .contains("not managed by this OvuSystem")
        );
    }
}
