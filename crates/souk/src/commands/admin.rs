//! `souk admin create --email E`: the first platform admin, from the command line.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use souk_app::accounts::{AdminAccount, make_platform_admin};
use souk_domain::accounts::{self, Email};

use crate::cli::{AdminCreateArgs, GlobalArgs};
use crate::startup::{database_exists, database_url, describe_database, open_database};

/// The password: prompted twice without echo on a terminal, else the first line of stdin.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

pub async fn create(global: &GlobalArgs, args: AdminCreateArgs) -> anyhow::Result<ExitCode> {
    let email = Email::parse(&args.email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    let name = args.name.clone().unwrap_or_else(|| {
        email
            .as_str()
            .split('@')
            .next()
            .unwrap_or("admin")
            .to_owned()
    });
    let name = accounts::validate_name(&name).map_err(|m| anyhow::anyhow!("--name {m}"))?;
    let password = read_password()?;
    accounts::check_password_policy(&password, Some(email.as_str()))
        .map_err(|m| anyhow::anyhow!("the password {m}"))?;
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password)).await?;

    let url = database_url(global)?;
    let place = describe_database(&url);
    if !args.init && !database_exists(&url).await? {
        bail!(
            "there is no Souk database at {place}: check --data-dir and SOUK_DATABASE_URL \
             (the shop's, as `souk serve` uses them), or pass --init to create a new one"
        );
    }
    let db = open_database(&url, 2).await?;
    let app = souk_app::App::quiet(db.clone(), souk_app::Settings::default());
    let made = make_platform_admin(&app, &email, &name, &hash).await?;
    db.close().await;
    let created = made == AdminAccount::Created;
    if created {
        println!("created platform admin {email} in {place}");
    } else {
        println!("{email} is now a platform admin (password replaced) in {place}");
    }
    Ok(ExitCode::SUCCESS)
}
