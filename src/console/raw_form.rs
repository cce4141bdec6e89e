//! A form's fields as sent, for the forms where one name repeats (checkboxes): `web::Form`
//! keeps only one value per name.

pub struct RawForm(Vec<(String, String)>);

impl RawForm {
    pub fn parse(body: &[u8]) -> Self {
        RawForm(url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The first value of `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::RawForm;

    #[test]
    fn repeated_names_keep_every_value() {
        let form = RawForm::parse(b"csrf=t&id=a&id=b&reason=two+words%21");
        assert_eq!(form.one("csrf"), Some("t"));
        assert_eq!(form.all("id"), ["a", "b"]);
        assert_eq!(form.one("reason"), Some("two words!"));
        assert_eq!(form.one("missing"), None);
    }
}
