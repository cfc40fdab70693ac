package demo;

/** The plain greeting (the Spring Boot variant's uses commons-lang3). */
class Greeting {
    static String text(String word) {
        return word;
    }
}
