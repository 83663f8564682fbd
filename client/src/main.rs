fn main() {
    twain_client::start();
}
