"""The procurement protocol (政府采购金融服务平台履约保函, spec 000): ELY101–ELY109."""
