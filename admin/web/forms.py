"""The web UI's forms (Flask-WTF: each carries a CSRF token and validates server-side)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    validators,
)
from wtforms.validators import EqualTo, Optional, Regexp, StopValidation, ValidationError

from admin.services.import_policy import DUPLICATE_LABELS
from core.actions import (
    ACTION_TYPES,
    ADD_TAG,
    ADD_TO_LIST,
    REMOVE_FROM_LIST,
    REMOVE_TAG,
    WHISPER,
)


class DataRequired(validators.DataRequired):
    """WTForms' check, with the field's label in the message ("Enter the Phone.")."""

    def __call__(self, form: object, field: object) -> None:
        try:
            super().__call__(form, field)
        except StopValidation:
            raise StopValidation(f"{_label(field)} is required.") from None


class Length(validators.Length):
    """WTForms' check, in plain words with the label, not "Field must be between 8 and 1024
    characters long."."""

    def __call__(self, form: object, field: object) -> None:
        try:
            super().__call__(form, field)
        except ValidationError:
            size = len(getattr(field, "data", None) or "")
            if self.min != -1 and size < self.min:
                message = f"{_label(field)} needs at least {self.min} characters."
            else:
                message = f"{_label(field)} can be at most {self.max} characters long."
            raise ValidationError(message) from None


def _label(field: object) -> str:
    label = getattr(getattr(field, "label", None), "text", "") or "This field"
    return str(label).rstrip("?:")


# SelectChoice, not (value, label) tuples: tuples are deprecated in WTForms 3.3, gone in 3.4.
ROLE_CHOICES = [
    SelectChoice("member", "Member"),
    SelectChoice("admin", "Admin"),
    SelectChoice("owner", "Owner"),
]
# The form's words for core's action types (a type without one fails at import).
ACTION_LABELS = {
    WHISPER: "Whisper a note in the contact's history",
    ADD_TAG: "Add tag",
    REMOVE_TAG: "Remove tag",
    ADD_TO_LIST: "Add to list",
    REMOVE_FROM_LIST: "Remove from list",
}
ACTION_CHOICES = [SelectChoice("", "(none)")] + [
    SelectChoice(kind, ACTION_LABELS[kind]) for kind in ACTION_TYPES
]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")


class AcceptInviteForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=1024)])
    confirm = PasswordField(
        "Password again", validators=[EqualTo("password", message="The passwords differ.")]
    )


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class TokenForm(FlaskForm):
    name = StringField(
        "What is it for?",
        validators=[
            DataRequired(),
            Length(max=200),
            # Postgres text cannot hold NUL; no name needs a control character.
            Regexp(r"^[^\x00-\x1f\x7f]*$", message="The name cannot hold control characters."),
        ],
    )


def pasted_hostname(value: object) -> object:
    """What a person pastes from the address bar, ``https://go.example.org/``, names the host
    ``go.example.org``: drop the scheme, any user, the path, query and fragment, and a port."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    for sep in "/?#":
        text = text.split(sep, 1)[0]
    text = text.rpartition("@")[2]
    host, colon, port = text.rpartition(":")
    if colon and port.isdigit() and "]" not in port:
        text = host
    return text


class DomainForm(FlaskForm):
    hostname = StringField(
        "Hostname", validators=[DataRequired(), Length(max=253)], filters=[pasted_hostname]
    )
    fallback_url = StringField("Fallback URL", validators=[Optional(), Length(max=2048)])


class FallbackForm(FlaskForm):
    fallback_url = StringField("Fallback URL", validators=[Optional(), Length(max=2048)])


class ActionForm(Form):
    """One click action: a type and, for tags and lists, a name."""

    type = SelectField("Action", choices=ACTION_CHOICES, default="")
    value = StringField("Tag or list", validators=[Optional(), Length(max=100)])


class LinkForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    destination = TextAreaField("Destination", validators=[DataRequired(), Length(max=2048)])
    domain_id = SelectField("Domain", coerce=int, validate_choice=False)
    extension = StringField("Extension", validators=[Optional(), Length(max=64)])
    preview_title = StringField("Title", validators=[Optional(), Length(max=300)])
    preview_description = TextAreaField("Description", validators=[Optional(), Length(max=1000)])
    preview_image = FileField("Image")
    preview_image_url = HiddenField()
    remove_image = BooleanField("Remove the image")
    actions = FieldList(FormField(ActionForm), min_entries=1)
    folder = StringField("Folder", validators=[Optional(), Length(max=100)])
    # A datetime-local value, read in the organisation's time zone (admin/web/links.py).
    expires_at = StringField("Expires", validators=[Optional(), Length(max=40)])


class ImportForm(FlaskForm):
    file = FileField("CSV file")
    duplicates = SelectField(
        "A phone that is already a contact",
        choices=[SelectChoice(k, v) for k, v in DUPLICATE_LABELS.items()],
        default="update",
    )
    list_name = StringField("Add everyone to the list", validators=[Optional(), Length(max=100)])
    tags = StringField("Tag everyone with", validators=[Optional(), Length(max=1000)])


class ContactForm(FlaskForm):
    phone = StringField("Phone", validators=[DataRequired(), Length(max=40)])
    first_name = StringField("First name", validators=[Optional(), Length(max=200)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=200)])
    email = StringField("Email", validators=[Optional(), Length(max=320)])
    fields = TextAreaField("Custom fields", validators=[Optional(), Length(max=20_000)])
    opted_out = BooleanField("Opted out (never texted)")


class TotpForm(FlaskForm):
    code = StringField("Code from your authenticator app", validators=[DataRequired(), Length(max=16)])
