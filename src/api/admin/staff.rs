//! Staff management (`/v1/admin/staff`): create a staff member with a role, change the role,
//! deactivate. Admins only (the route table); nobody changes their own role. Every change is
//! audited with its reason and ends the member's sessions.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::reason::{ReasonRequest, not_self, reason_of};
use crate::api::AppState;
use crate::api::dto::UserView;
use crate::api::json::JsonBody;
use crate::api::page::{Page, PageQuery, page_schema};
use crate::auth::error::AuthError;
use crate::auth::extract::AdminUser;
use crate::domain::staff::{self, Action};
use crate::domain::time;
use crate::domain::user::{DisplayName, Role, User, Username};
use crate::error::ApiError;
use crate::store::{self, StoreError};

page_schema!(StaffPage, UserView);

const PROBLEM: &str = "application/problem+json";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    /// 3..=32 of `[a-z0-9_]`.
    pub(crate) username: String,
    /// The password rules of registration apply.
    pub(crate) password: String,
    pub(crate) display_name: Option<String>,
    /// `support`, `operations`, `credit` or `admin`.
    #[schema(example = "support")]
    pub(crate) role: String,
    pub(crate) reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// `support`, `operations`, `credit` or `admin`.
    #[schema(example = "operations")]
    role: String,
    reason: String,
}

fn staff_role(text: &str) -> Result<Role, ApiError> {
    Role::staff(text).ok_or_else(|| ApiError::Validation("role must be support, operations, credit or admin".into()))
}

/// Staff members, newest first.
#[utoipa::path(operation_id = "listStaff", tag = "admin", path = "/v1/admin/staff", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "A page of staff members", body = StaffPage)))]
#[get("/staff")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: AdminUser,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = page.parse()?;
    let limit = page.limit;
    let rows = state.db.read(move |conn| store::staff::list(conn, page.after.as_deref(), limit + 1)).await?;
    let views: Vec<UserView> = rows.iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |u| u.id.clone())))
}

/// Create a staff member with a role.
#[utoipa::path(operation_id = "createStaff", tag = "admin", path = "/v1/admin/staff", security(("bearer" = [])), request_body = NewStaffRequest,
    responses(
        (status = 201, description = "The new staff member", body = UserView),
        (status = 403, description = "`forbidden`: only admins manage staff", body = crate::error::Problem, content_type = PROBLEM),
        (status = 409, description = "`username_taken`", body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, description = "`validation_error`: username, password, role or reason", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/staff")]
pub async fn create(
    state: web::Data<AppState>,
    admin: AdminUser,
    body: JsonBody<NewStaffRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = create_staff(&state, &admin.0, &body.into_inner()).await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

/// Creates a staff member as `actor` asked, for the API and the console alike: the
/// registration rules for the name and password, a staff role, a reason; audited.
pub(crate) async fn create_staff(state: &AppState, actor: &User, new: &NewStaffRequest) -> Result<User, ApiError> {
    if !staff::allows(actor.role, Action::ManageStaff) {
        return Err(ApiError::Forbidden("only admins manage staff".into()));
    }
    let username = Username::parse(&new.username).map_err(ApiError::Validation)?;
    let password =
        crate::credentials::password_rules::check(&new.password, username.as_str()).map_err(ApiError::Validation)?;
    let display_name = new.display_name.as_deref().map(DisplayName::parse).transpose().map_err(ApiError::Validation)?;
    let role = staff_role(&new.role)?;
    let reason = reason_of(&new.reason)?;
    let hash = state.passwords.hash(password).await.map_err(|e| ApiError::from(AuthError::from(e)))?;
    let actor = actor.id;
    state
        .db
        .write(move |conn| {
            let new = store::users::NewUser {
                username: &username,
                display_name: display_name.as_ref(),
                password_hash: &hash,
                role,
            };
            store::staff::create(conn, actor, &new, &reason, time::now())
        })
        .await
        .map_err(|e| match e {
            StoreError::UniqueViolation(_) => ApiError::UsernameTaken,
            other => other.into(),
        })
}

async fn set_role(
    state: &AppState,
    admin: &AdminUser,
    target: Uuid,
    role: Role,
    reason: &str,
) -> Result<HttpResponse, ApiError> {
    let reason = reason_of(reason)?;
    not_self(admin, target, "change the role of")?;
    let actor = admin.0.id;
    let user = state
        .db
        .write(move |conn| store::staff::set_role(conn, actor, target, role, &reason, time::now()))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such staff member".into()))?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// Give a staff member another staff role; their sessions end.
#[utoipa::path(operation_id = "changeStaffRole", tag = "admin", path = "/v1/admin/staff/{id}/role", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RoleRequest,
    responses(
        (status = 200, description = "The staff member with the new role", body = UserView),
        (status = 403, description = "`forbidden`: only admins manage staff, and nobody changes their own role", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`: no such staff member (a customer is no staff member)", body = crate::error::Problem, content_type = PROBLEM),
        (status = 422, description = "`validation_error`: role or reason", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/staff/{id}/role")]
pub async fn change_role(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: JsonBody<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let role = staff_role(&body.value.role)?;
    set_role(&state, &admin, id.into_inner(), role, &body.value.reason).await
}

/// Take every staff power from a staff member (their role becomes `user`); their sessions end.
#[utoipa::path(operation_id = "deactivateStaff", tag = "admin", path = "/v1/admin/staff/{id}/deactivate", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReasonRequest,
    responses(
        (status = 200, description = "The former staff member, role `user`", body = UserView),
        (status = 403, description = "`forbidden`: only admins manage staff, and nobody deactivates themselves", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`: no such staff member", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/staff/{id}/deactivate")]
pub async fn deactivate(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    set_role(&state, &admin, id.into_inner(), Role::User, &body.value.reason).await
}

/// Reset a staff member's two-factor sign-in: their TOTP and recovery codes are removed and
/// their console sessions end; they enrol again at the next sign-in.
#[utoipa::path(operation_id = "resetStaffTotp", tag = "admin", path = "/v1/admin/staff/{id}/totp/reset", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReasonRequest,
    responses(
        (status = 200, description = "The staff member", body = UserView),
        (status = 403, description = "`forbidden`: only admins manage staff, and nobody resets their own", body = crate::error::Problem, content_type = PROBLEM),
        (status = 404, description = "`not_found`: no such staff member", body = crate::error::Problem, content_type = PROBLEM),
    ))]
#[post("/staff/{id}/totp/reset")]
pub async fn reset_totp(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<Uuid>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let (target, reason) = (id.into_inner(), reason_of(&body.value.reason)?);
    not_self(&admin, target, "reset the two-factor sign-in of")?;
    let actor = admin.0.id;
    let user = state
        .db
        .write(move |conn| store::staff::reset_totp(conn, actor, target, &reason, time::now()))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such staff member".into()))?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}
