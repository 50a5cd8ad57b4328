"""Every file reader: profiles and the catalog, timelines, rosters, press logs. Units are parsed
here, once."""
