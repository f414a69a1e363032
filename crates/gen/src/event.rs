//! One CloudTrail record: the borrowed [`Call`] description and its NDJSON rendering.

use crate::json::{push_esc, push_hex16_upper, push_time, push_uuid};
use crate::Rng;

/// What kind of record a [`Call`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A management API call (`AwsApiCall`, `Management`).
    Api,
    /// A management API call made from the console (`sessionCredentialFromConsole`).
    ConsoleApi,
    /// A console sign-in (`AwsConsoleSignIn`).
    SignIn,
    /// A data-plane call (`AwsApiCall`, `Data`, `managementEvent` false).
    Data,
}

/// The `tlsDetails.clientProvidedHostHeader` to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host<'a> {
    /// Derived from the service and region (`ec2.us-east-1.amazonaws.com`, `iam.amazonaws.com`).
    Default,
    /// No `tlsDetails` (calls AWS services make on a customer's behalf).
    None,
    /// This host.
    Custom(&'a str),
}

/// One API call, borrowing every string it needs; rendered by [`render`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// Event time (ms since the epoch); rendered in whole seconds.
    pub t: i64,
    /// The full `userIdentity` object (JSON).
    pub ident: &'a str,
    /// Service prefix: `ec2` becomes `ec2.amazonaws.com`.
    pub service: &'a str,
    /// `eventName`.
    pub name: &'a str,
    /// `awsRegion`.
    pub region: &'a str,
    /// `sourceIPAddress`.
    pub ip: &'a str,
    /// `userAgent`.
    pub ua: &'a str,
    /// `requestParameters` JSON; empty for null.
    pub req: &'a str,
    /// `responseElements` JSON; empty for null.
    pub resp: &'a str,
    /// `additionalEventData` JSON; empty to omit.
    pub extra: &'a str,
    /// `resources` JSON array; empty to omit.
    pub resources: &'a str,
    /// `errorCode` and `errorMessage`.
    pub error: Option<(&'a str, &'a str)>,
    /// `readOnly`.
    pub read_only: bool,
    /// Record kind.
    pub kind: Kind,
    /// `recipientAccountId`.
    pub account: &'a str,
    /// TLS host header.
    pub host: Host<'a>,
    /// `vpcEndpointId`; empty to omit.
    pub vpce: &'a str,
}

/// Whether an API name is a read by CloudTrail's classification.
pub(crate) fn is_read(name: &str) -> bool {
    const READS: [&str; 11] = [
        "Describe",
        "List",
        "Get",
        "Head",
        "Lookup",
        "BatchGet",
        "Decrypt",
        "GenerateDataKey",
        "AssumeRole",
        "Search",
        "Scan",
    ];
    READS.iter().any(|p| name.starts_with(p))
}

impl<'a> Call<'a> {
    /// A successful management call with null parameters; adjust with the setters.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        t: i64,
        ident: &'a str,
        service: &'a str,
        name: &'a str,
        region: &'a str,
        ip: &'a str,
        ua: &'a str,
        account: &'a str,
    ) -> Self {
        Call {
            t,
            ident,
            service,
            name,
            region,
            ip,
            ua,
            req: "",
            resp: "",
            extra: "",
            resources: "",
            error: None,
            read_only: is_read(name),
            kind: Kind::Api,
            account,
            host: Host::Default,
            vpce: "",
        }
    }

    /// Sets `requestParameters`.
    pub(crate) fn req(mut self, req: &'a str) -> Self {
        self.req = req;
        self
    }

    /// Sets `responseElements`.
    pub(crate) fn resp(mut self, resp: &'a str) -> Self {
        self.resp = resp;
        self
    }

    /// Sets `additionalEventData`.
    pub(crate) fn extra(mut self, extra: &'a str) -> Self {
        self.extra = extra;
        self
    }

    /// Sets `resources`.
    pub(crate) fn resources(mut self, resources: &'a str) -> Self {
        self.resources = resources;
        self
    }

    /// Marks the call failed.
    pub(crate) fn err(mut self, code: &'a str, msg: &'a str) -> Self {
        self.error = Some((code, msg));
        self
    }

    /// Sets the record kind.
    pub(crate) fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the TLS host.
    pub(crate) fn host(mut self, host: Host<'a>) -> Self {
        self.host = host;
        self
    }

    /// Overrides `readOnly`.
    pub(crate) fn read_only(mut self, ro: bool) -> Self {
        self.read_only = ro;
        self
    }

    /// Sets `vpcEndpointId`.
    pub(crate) fn vpce(mut self, vpce: &'a str) -> Self {
        self.vpce = vpce;
        self
    }
}

const GLOBAL: [&str; 5] = ["iam", "organizations", "route53", "cloudfront", "signin"];

fn push_host(buf: &mut Vec<u8>, c: &Call<'_>) {
    if c.service == "signin" {
        buf.extend_from_slice(b"signin.aws.amazon.com");
    } else if GLOBAL.contains(&c.service) {
        buf.extend_from_slice(c.service.as_bytes());
        buf.extend_from_slice(b".amazonaws.com");
    } else {
        buf.extend_from_slice(c.service.as_bytes());
        buf.push(b'.');
        buf.extend_from_slice(c.region.as_bytes());
        buf.extend_from_slice(b".amazonaws.com");
    }
}

/// Appends `c` as one NDJSON line (with the trailing newline), in the key order CloudTrail uses.
pub(crate) fn render(buf: &mut Vec<u8>, c: &Call<'_>, rng: &mut Rng) {
    buf.extend_from_slice(b"{\"eventVersion\":\"1.09\",\"userIdentity\":");
    buf.extend_from_slice(c.ident.as_bytes());
    buf.extend_from_slice(b",\"eventTime\":\"");
    push_time(buf, c.t);
    buf.extend_from_slice(b"\",\"eventSource\":\"");
    buf.extend_from_slice(c.service.as_bytes());
    buf.extend_from_slice(b".amazonaws.com\",\"eventName\":\"");
    buf.extend_from_slice(c.name.as_bytes());
    buf.extend_from_slice(b"\",\"awsRegion\":\"");
    buf.extend_from_slice(c.region.as_bytes());
    buf.extend_from_slice(b"\",\"sourceIPAddress\":\"");
    buf.extend_from_slice(c.ip.as_bytes());
    buf.extend_from_slice(b"\",\"userAgent\":\"");
    push_esc(buf, c.ua);
    buf.push(b'"');
    if let Some((code, msg)) = c.error {
        buf.extend_from_slice(b",\"errorCode\":\"");
        push_esc(buf, code);
        buf.extend_from_slice(b"\",\"errorMessage\":\"");
        push_esc(buf, msg);
        buf.push(b'"');
    }
    buf.extend_from_slice(b",\"requestParameters\":");
    buf.extend_from_slice(if c.req.is_empty() { b"null" } else { c.req.as_bytes() });
    buf.extend_from_slice(b",\"responseElements\":");
    buf.extend_from_slice(if c.resp.is_empty() { b"null" } else { c.resp.as_bytes() });
    if !c.extra.is_empty() {
        buf.extend_from_slice(b",\"additionalEventData\":");
        buf.extend_from_slice(c.extra.as_bytes());
    }
    match c.kind {
        Kind::SignIn => {}
        Kind::Data if c.service == "s3" => {
            buf.extend_from_slice(b",\"requestID\":\"");
            push_hex16_upper(buf, rng);
            buf.push(b'"');
        }
        _ => {
            buf.extend_from_slice(b",\"requestID\":\"");
            push_uuid(buf, rng);
            buf.push(b'"');
        }
    }
    buf.extend_from_slice(b",\"eventID\":\"");
    push_uuid(buf, rng);
    buf.extend_from_slice(b"\",\"readOnly\":");
    buf.extend_from_slice(if c.read_only { b"true" } else { b"false" });
    if !c.resources.is_empty() {
        buf.extend_from_slice(b",\"resources\":");
        buf.extend_from_slice(c.resources.as_bytes());
    }
    buf.extend_from_slice(match c.kind {
        Kind::SignIn => b",\"eventType\":\"AwsConsoleSignIn\",\"managementEvent\":true",
        Kind::Data => b",\"eventType\":\"AwsApiCall\",\"managementEvent\":false",
        _ => b",\"eventType\":\"AwsApiCall\",\"managementEvent\":true",
    });
    buf.extend_from_slice(b",\"recipientAccountId\":\"");
    buf.extend_from_slice(c.account.as_bytes());
    if !c.vpce.is_empty() {
        buf.extend_from_slice(b"\",\"vpcEndpointId\":\"");
        buf.extend_from_slice(c.vpce.as_bytes());
        buf.extend_from_slice(b"\",\"vpcEndpointAccountId\":\"");
        buf.extend_from_slice(c.account.as_bytes());
    }
    buf.extend_from_slice(if c.kind == Kind::Data {
        b"\",\"eventCategory\":\"Data\""
    } else {
        b"\",\"eventCategory\":\"Management\""
    });
    match c.host {
        Host::None => {}
        Host::Default | Host::Custom(_) => {
            buf.extend_from_slice(
                b",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"",
            );
            match c.host {
                Host::Custom(h) => buf.extend_from_slice(h.as_bytes()),
                _ => push_host(buf, c),
            }
            buf.extend_from_slice(b"\"}");
        }
    }
    if c.kind == Kind::ConsoleApi {
        buf.extend_from_slice(b",\"sessionCredentialFromConsole\":\"true\"");
    }
    buf.extend_from_slice(b"}\n");
}
