//! The OpenAPI document: its header and security schemes, and what the handler attributes
//! cannot say (operation ids and security per area, the closed vocabularies, the live streams'
//! events, the errors every operation can answer), added after the routes are collected.

use utoipa::OpenApi;

use crate::config::HttpConfig;
use crate::{api, error};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Souk API",
        description = "Souk, a multi-vendor marketplace backend. Errors are `application/problem+json` \
                       with a stable `code`; money is `{amount, currency}` in minor units; ids are opaque.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0")
    ),
    tags(
        (name = "store", description = "What shoppers see: catalog, categories, vendors"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "vendor", description = "Vendor staff: their own vendor only"),
        (name = "admin", description = "Platform admins"),
        (name = "operations", description = "Health, readiness, metrics"),
    ),
    components(schemas(error::Problem, error::FieldError)),
    modifiers(&SecurityAddon)
)]
pub(crate) struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // A browser session; changes also need `X-CSRF-Token` (the `souk_csrf` cookie's value).
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "souk_session",
                    "The session cookie set by login; unsafe methods also need the \
                     `X-CSRF-Token` header (the value of the `souk_csrf` cookie)",
                ),
            )),
        );
    }
}

/// What the handler attributes cannot say, added to the generated document.
pub(crate) fn complete(doc: &mut utoipa::openapi::OpenApi) {
    document_common_errors(doc);
    name_operations_and_security(doc);
    type_filters_and_streams(doc);
}

/// Store carts and orders serve guests and customers alike: credentials are optional there.
/// (Asking for an order link again takes none: it acts on no account.)
fn takes_optional_credentials(path: &str) -> bool {
    (path.starts_with("/api/store/carts") || path.starts_with("/api/store/orders"))
        && path != "/api/store/orders/lookup"
}

/// The part of the API a path belongs to: the prefix of its operation ids.
fn area(path: &str) -> &'static str {
    for area in ["store", "auth", "vendor", "admin", "hooks"] {
        if path.starts_with(&format!("/api/{area}/")) || path == format!("/api/{area}") {
            return area;
        }
    }
    "ops"
}

/// Operation ids that client generators can use as method names: unique, and prefixed with
/// their area (`store_get_order`, `admin_get_order`); and each operation's security stated:
/// `[]` where no credentials are taken, the bearer token or the session cookie where they are,
/// and either or none on the store's carts and orders (guests and customers alike).
fn name_operations_and_security(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    let bearer = || SecurityRequirement::new("bearer", Vec::<String>::new());
    let cookie = || SecurityRequirement::new("cookie", Vec::<String>::new());
    for (path, item) in doc.paths.paths.iter_mut() {
        let area = area(path);
        let optional_credentials = takes_optional_credentials(path);
        for operation in operations_mut(item) {
            if let Some(id) = &operation.operation_id
                && !id.starts_with(&format!("{area}_"))
            {
                operation.operation_id = Some(format!("{area}_{id}"));
            }
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            operation.security = Some(if secured {
                vec![bearer(), cookie()]
            } else if optional_credentials {
                vec![SecurityRequirement::default(), bearer(), cookie()]
            } else {
                Vec::new()
            });
        }
    }
}

/// What the handler attributes cannot say: the vocabulary of each list's shared `status`
/// filter, every closed set as a named schema, and the events of the live streams
/// (`StreamEvent`, pointed to from each `text/event-stream` response).
fn type_filters_and_streams(doc: &mut utoipa::openapi::OpenApi) {
    use api::events::documented::StreamEvent;
    use api::vocabulary::*;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{Components, RefOr, extensions::ExtensionsBuilder};
    fn add<T: utoipa::ToSchema>(components: &mut Components) {
        let mut all = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut all);
        for (name, schema) in all {
            components.schemas.entry(name).or_insert(schema);
        }
    }
    let components = doc.components.get_or_insert_with(Components::new);
    add::<OrderStatus>(components);
    add::<VendorOrderStatus>(components);
    add::<VendorStatus>(components);
    add::<ProductStatus>(components);
    add::<JobStatus>(components);
    add::<MessageStatus>(components);
    add::<ProductSort>(components);
    add::<StreamEvent>(components);
    let stream = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Server-Sent Events: each event is a `StreamEvent` (`id:`, `event:`, one line of JSON \
             `data:`); `: heartbeat` comments every 15 s.",
        ))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add(
                    "x-stream-event",
                    serde_json::json!({"$ref": "#/components/schemas/StreamEvent"}),
                )
                .build(),
        ))
        .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        let filter = api::vocabulary::status_filter(path);
        for operation in operations_mut(item) {
            // Lists that share the page parameters but have no status to filter by (the audit
            // log, deliveries) do not offer the filter.
            if filter.is_none()
                && let Some(parameters) = &mut operation.parameters
            {
                parameters.retain(|p| !matches!(p, RefOr::T(p) if p.name == "status"));
            }
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if parameter.name == "status"
                    && parameter.parameter_in == utoipa::openapi::path::ParameterIn::Query
                    && let Some(filter) = &filter
                {
                    parameter.schema = Some(filter.clone());
                }
            }
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response
                    && let Some(RefOr::T(content)) = response.content.get_mut("text/event-stream")
                {
                    content.schema = Some(RefOr::T(stream.clone().into()));
                }
            }
        }
    }
}

/// The operations of a path, whatever their method.
fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// Adds the errors that every operation of a kind can answer, so a client generator (and
/// schemathesis' status-code check) knows them without each handler listing them: 401/403 where
/// credentials are taken, 400/413/415 where a JSON body is read, 503 when shedding load.
fn document_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        // Store carts and orders take optional credentials (a customer's session or key).
        let optional_credentials = takes_optional_credentials(path);
        for operation in operations_mut(item) {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let json_body = matches!(&operation.request_body, Some(RefOr::T(body))
                if body.content.contains_key("application/json"));
            let mut add = |status: &str, description: &str| {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description));
            };
            if secured || optional_credentials {
                add(
                    "401",
                    "Credentials sent but not valid, or none where required (`unauthenticated`)",
                );
                add(
                    "403",
                    "Not allowed: role, API-key scope, or a cookie request without the CSRF token \
                     (`forbidden`, `insufficient_scope`, `csrf_failed`)",
                );
            }
            // Query strings are read strictly: unknown or malformed parameters are refused.
            let takes_query = operation.parameters.iter().flatten().any(|p| {
                matches!(p, RefOr::T(p) if p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
            });
            if takes_query {
                add(
                    "400",
                    "Unknown, repeated or invalid query parameters (`invalid_query`, `validation_failed`)",
                );
            }
            if json_body {
                add(
                    "400",
                    "Malformed JSON or invalid fields (`invalid_json`, `validation_failed`)",
                );
                add("413", "Body too large (`payload_too_large`)");
                add(
                    "415",
                    "The body is not `application/json` (`unsupported_media_type`)",
                );
            }
            add(
                "503",
                "Shedding load, or the database is unreachable; retry after `Retry-After` \
                 (`overloaded`, `database_unavailable`)",
            );
        }
    }
}

/// The document as served: its `servers` is the shop's public URL (`SOUK_PUBLIC_URL`), or `/`
/// (this server, however it is reached) when none is set.
pub(crate) fn with_server(
    mut openapi: utoipa::openapi::OpenApi,
    config: &HttpConfig,
) -> utoipa::openapi::OpenApi {
    let url = config
        .public_url
        .as_deref()
        .map_or("/".to_owned(), |u| u.trim_end_matches('/').to_owned());
    openapi.servers = Some(vec![utoipa::openapi::Server::new(url)]);
    openapi
}
