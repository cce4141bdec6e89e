//! HTTP method semantics the route macros do not give: 405 with `Allow` for a known path
//! and an unserved method, OPTIONS answering with `Allow`, HEAD served by the GET handler.
//! The table of paths and methods is read from the OpenAPI document, so the two agree.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// Paths served outside the OpenAPI document (the document itself and its viewer).
const UNDOCUMENTED: [(&str, &str); 3] = [("/openapi.json", "get"), ("/docs", "get"), ("/docs/{tail}", "get")];
const ORDER: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

enum Segment {
    Literal(String),
    Parameter,
}

struct Route {
    segments: Vec<Segment>,
    /// Everything below the last segment matches too (the docs viewer's files).
    open_ended: bool,
    methods: Vec<String>,
}

/// Every served path template with its methods.
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Reads `paths` of a serialized OpenAPI document.
    pub fn from_document(document: &serde_json::Value, docs: bool) -> Self {
        let mut table = RouteTable { routes: Vec::new() };
        if let Some(paths) = document.get("paths").and_then(|p| p.as_object()) {
            for (template, item) in paths {
                let methods = item.as_object().map(|ops| ops.keys().cloned().collect()).unwrap_or_default();
                table.add(template, methods);
            }
        }
        for (template, method) in UNDOCUMENTED {
            if docs || template == "/openapi.json" {
                table.add(template, vec![method.to_owned()]);
            }
        }
        table
    }

    fn add(&mut self, template: &str, methods: Vec<String>) {
        let segments: Vec<Segment> = template
            .trim_start_matches('/')
            .split('/')
            .map(|s| if s.starts_with('{') { Segment::Parameter } else { Segment::Literal(s.to_owned()) })
            .collect();
        let open_ended = template.ends_with("{tail}");
        let methods = methods.into_iter().map(|m| m.to_ascii_uppercase()).filter(|m| m != "PARAMETERS").collect();
        self.routes.push(Route { segments, open_ended, methods });
    }

    /// The `Allow` header value for `path`, or `None` when no route has that path.
    pub fn allow(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut methods: Vec<&str> = Vec::new();
        for route in self.routes.iter().filter(|r| r.matches(&parts)) {
            methods.extend(route.methods.iter().map(String::as_str));
        }
        if methods.is_empty() {
            return None;
        }
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        methods.push("OPTIONS");
        let allowed: Vec<&str> = ORDER.into_iter().filter(|m| methods.contains(m)).collect();
        Some(allowed.join(", "))
    }
}

impl Route {
    fn matches(&self, parts: &[&str]) -> bool {
        let fixed = if self.open_ended { self.segments.len() - 1 } else { self.segments.len() };
        let length_ok = if self.open_ended { parts.len() >= fixed } else { parts.len() == fixed };
        length_ok
            && self.segments.iter().take(fixed).zip(parts).all(|(segment, part)| match segment {
                Segment::Literal(literal) => literal == part,
                Segment::Parameter => !part.is_empty(),
            })
    }
}

/// Marks a request that arrived as HEAD and is served by its GET route.
#[derive(Clone, Copy)]
struct ArrivedAsHead;

/// Serves HEAD with the GET handler. The connection still knows the request was HEAD, so
/// the answer carries the GET answer's headers and no body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
        req.extensions_mut().insert(ArrivedAsHead);
    }
    next.call(req).await
}

/// The default service: a known path with an unserved method answers 405 (OPTIONS: 204),
/// anything else 404; both with `Allow` where the path exists.
pub async fn no_route(req: HttpRequest, table: web::Data<RouteTable>) -> Result<HttpResponse, ApiError> {
    let method = if req.extensions().get::<ArrivedAsHead>().is_some() { "HEAD" } else { req.method().as_str() };
    let Some(allow) = table.allow(req.path()) else {
        return Err(ApiError::NotFound(format!("no route for {method} {}", req.path())));
    };
    if req.method() == Method::OPTIONS {
        return Ok(HttpResponse::build(StatusCode::NO_CONTENT).insert_header((header::ALLOW, allow)).finish());
    }
    Err(ApiError::MethodNotAllowed { method: method.to_owned(), allow })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_document(
            &serde_json::json!({"paths": {
            "/v1/credit/purchases": {"get": {}, "post": {}},
            "/v1/credit/purchases/{id}": {"get": {}},
            "/v1/credit/purchases/{id}/cancel": {"post": {}},
            }}),
            true,
        )
    }

    #[test]
    fn allow_lists_the_served_methods_in_order() {
        let t = table();
        assert_eq!(t.allow("/v1/credit/purchases").as_deref(), Some("GET, HEAD, POST, OPTIONS"));
        assert_eq!(t.allow("/v1/credit/purchases/abc").as_deref(), Some("GET, HEAD, OPTIONS"));
        assert_eq!(t.allow("/v1/credit/purchases/abc/cancel").as_deref(), Some("POST, OPTIONS"));
        assert_eq!(t.allow("/docs/index.html").as_deref(), Some("GET, HEAD, OPTIONS"));
        assert_eq!(t.allow("/v1/credit/purchases//cancel"), None);
        assert_eq!(t.allow("/v1/nope"), None);
    }
}
