"""Running the app: settings, the command line, migrations, the nginx configuration."""
